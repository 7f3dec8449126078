"""File input and output: FITS images, caesar catalogues, DS9 regions, truth tables."""
