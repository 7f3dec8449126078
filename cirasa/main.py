"""The ``cirasa`` command line: local services, broker, planning, extraction and the demo."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import typer
import yaml
from rich.console import Console

from cirasa import services

app = typer.Typer(
    help="Offer-based planning of caesar-style radio source extraction on Prefect, Dask and Slurm.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
server_app = typer.Typer(
    help="Manage the local services (Prefect server, workers, broker, Slurm).", no_args_is_help=True
)
broker_app = typer.Typer(help="The ExecutionBroker service.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(broker_app, name="broker")
console = Console(width=160) if not Console().is_terminal else Console()
err = Console(stderr=True)


def _fail(code: str, detail: str, exit_code: int = 1) -> typer.Exit:
    err.print(f"[red]{code}[/]: {detail}")
    return typer.Exit(exit_code)


def _writable_dir(path: Path) -> Path:
    """``path`` as an existing directory (made if missing), before any work is done; a clear error if it cannot be
    (a file in the way, no permission, a read-only file system)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail("invalid-output", f"cannot use {path} as the output directory: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise _fail("invalid-output", f"cannot write into the output directory {path}")
    return path


@server_app.command("up", epilog="Example: `cirasa server up` then open the printed Prefect UI URL.")
def server_up(
    slurm: bool = typer.Option(True, help="Also start the local Slurm when this machine can (root + apt)."),
) -> None:
    """Start every local service that is not running yet (idempotent)."""
    config = services.ServiceConfig.from_env()
    for name, line in services.up(config, with_slurm=slurm).items():
        console.print(f"{name:<20} {line}")


@server_app.command("down", epilog="Example: `cirasa server down`")
def server_down() -> None:
    """Stop every local service started by `cirasa server up` or `cirasa demo`."""
    stopped = services.down(services.ServiceConfig.from_env())
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@server_app.command("status", epilog="Example: `cirasa server status`")
def server_status() -> None:
    """Show which local services run, with their PIDs."""
    for name, line in services.status(services.ServiceConfig.from_env()).items():
        console.print(f"{name:<20} {line}")


@app.command(epilog="Example: `cirasa deploy` (needs a running Prefect server: `cirasa server up`).")
def deploy() -> None:
    """Create the work pools and one deployment per flow × pool from deployments/prefect.yaml."""
    config = services.ServiceConfig.from_env()
    services.deploy(config)
    console.print(f"work pools {', '.join(services.POOLS)} and their deployments are in place")


@broker_app.command("serve", epilog="Example: `cirasa broker serve --host 127.0.0.1 --port 8790`")
def broker_serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8790, help="TCP port."),
    config_file: Path | None = typer.Option(None, "--config", help="TOML file with [[platforms]] tables."),
) -> None:
    """Serve the ExecutionBroker HTTP API (offers for the configured platforms)."""
    import uvicorn

    from planner.api.app import create_app
    from planner.errors import PlannerError
    from planner.settings import BrokerSettings

    overrides: dict[str, object] = {"host": host, "port": port}
    if config_file is not None:
        overrides["config_file"] = config_file
    settings = BrokerSettings(**overrides)  # type: ignore[arg-type]
    try:
        broker = create_app(settings)  # refuses to listen beyond loopback without tokens
    except PlannerError as exc:
        raise _fail(exc.code, exc.detail) from None
    uvicorn.run(broker, host=host, port=port, log_level="info")


@app.command(epilog="Example: `cirasa simulate sky.fits --size 1024 --sources 200 --seed 7`")
def simulate(
    output: Path = typer.Argument(..., help="FITS file to write; the truth table goes beside it (_truth.ecsv)."),
    size: int = typer.Option(512, min=64, help="Image side, pixels."),
    sources: int = typer.Option(60, min=1, help="Number of point sources."),
    seed: int = typer.Option(1, help="Random seed (same seed, same image)."),
    resolved: int = typer.Option(0, min=0, help="Extra resolved (extended Gaussian) sources."),
    doubles: int = typer.Option(0, min=0, help="Extra pairs of blended point sources."),
    diffuse: int = typer.Option(0, min=0, help="Extra diffuse blobs."),
    sidelobes: float = typer.Option(0.0, min=0.0, help="Sidelobe artefact level around bright sources (e.g. 0.03)."),
    rms_gradient: float = typer.Option(0.0, min=0.0, help="Noise grows along x by this fraction."),
) -> None:
    """Simulate a radio image (beam-convolved sources, correlated noise) with its truth table."""
    from science.errors import ScienceError
    from science.io.fits import write_image
    from science.io.truth import write_truth
    from science.simulate import simulate_image

    _writable_dir(output.parent)
    try:
        image, truth = simulate_image(
            shape=(size, size),
            n_sources=sources,
            seed=seed,
            n_resolved=resolved,
            n_doubles=doubles,
            n_diffuse=diffuse,
            sidelobe_level=sidelobes,
            rms_gradient=rms_gradient,
        )
    except ScienceError as exc:
        raise _fail(exc.code, str(exc)) from None
    write_image(output, image)
    truth_path = output.with_name(output.stem + "_truth.ecsv")
    write_truth(truth, truth_path)
    console.print(f"wrote {output} and {truth_path} ({len(truth)} sources)")


@app.command(epilog="Example: `cirasa extract sky.fits --out results/ --seedthr 5 --mergethr 2.6 --fitsources`")
def extract(
    image: Path = typer.Argument(..., help="FITS image (2-D, or 4-D with degenerate axes)."),
    out: Path = typer.Option(..., "--out", help="Output directory for the caesar-format files."),
    seedthr: float = typer.Option(5.0, help="Seed threshold, in sigma."),
    mergethr: float = typer.Option(2.6, help="Merge (flood-fill) threshold, in sigma."),
    npixmin: int = typer.Option(5, help="Minimum pixels per island."),
    fitsources: bool = typer.Option(False, "--fitsources", help="Fit 2-D Gaussian components (catalog_fitcomp-*)."),
    rejectartefacts: bool = typer.Option(
        False, "--rejectartefacts", help="Mark sidelobe-like detections next to bright sources as FAKE."
    ),
    tilesize: int = typer.Option(0, "--tilesize", min=0, help="Tile core side in pixels (0: whole image)."),
    bmaj: float = typer.Option(None, help="Beam major FWHM, arcsec, when the header has none."),
    bmin: float = typer.Option(None, help="Beam minor FWHM, arcsec, when the header has none."),
    bpa: float = typer.Option(0.0, help="Beam position angle, deg, when the header has none."),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-O",
        help="Any caesar-rest option as KEY=VALUE (e.g. -O fit-maxcomponents=2); caesar's FITS maps with "
        "-O save-fits -O save-bkgmap (save-rmsmap, save-significancemap).",
    ),
) -> None:
    """Extract sources from one image here (no Prefect), writing caesar's catalogue and regions."""
    from planner.wire.caesar import RUN_OPTIONS, extraction_params, unapplied_options
    from science.errors import ScienceError
    from science.extract.extractor import extract_file
    from science.extract.params import ExtractionParams
    from science.extract.tiling import plan_file_tiles
    from science.io.catalogue import write_catalogue_products
    from science.io.fits import image_base_name
    from science.io.maps import is_map_option
    from science.io.outputs import JobOutputs

    _writable_dir(out)
    values: dict[str, object] = {"seedthr": seedthr, "mergethr": mergethr, "npixmin": npixmin}
    values.update({"fitsources": fitsources, "rejectartefacts": rejectartefacts, "tile_size": tilesize})
    values.update({"bmaj": bmaj, "bmin": bmin, "bpa": bpa})
    saves: dict[str, object] = {}
    run: dict[str, object] = {}
    for item in option:
        key, sep, value = item.partition("=")
        # how caesar runs (threads, MPI, logging): nothing to do here, but for its tile split
        (run if key.lstrip("-") in RUN_OPTIONS else saves if is_map_option(key) else values)[key] = (
            value if sep else None
        )
    if tilesize == 0 and "tile_size" in (split := extraction_params(run)):
        values["tile_size"] = split["tile_size"]
    if unapplied := unapplied_options(values):
        names = ", ".join(unapplied)
        raise _fail("not-implemented", f"caesar-rest option(s) this engine does not implement: {names}")
    try:
        params = ExtractionParams.parse(values)
        outputs = JobOutputs.plan(image, params, out, saves)
        for note in outputs.notes:
            console.print(f"[yellow]note[/yellow]: {note}")
        if params.tile_size:
            console.print(f"{len(plan_file_tiles(image, params))} tile(s) of {params.tile_size} px (and overlaps)")
        table = extract_file(str(image), params, maps_to=outputs.maps_to)
    except ScienceError as exc:
        raise _fail(exc.code, str(exc)) from None
    products = write_catalogue_products(table, out, image_base_name(image), sky=outputs.sky)
    written = [str(p) for p in products.values()] + outputs.map_paths
    console.print(f"{len(table)} source(s); wrote {', '.join(written)}")


@app.command(epilog="Example: `cirasa options` or `cirasa options --unapplied`")
def options(
    unapplied: bool = typer.Option(False, "--unapplied", help="Only the options this engine does not implement."),
) -> None:
    """caesar-rest's caesar options and what this engine does with each (extract -O, caesar-rest jobs)."""
    from rich.table import Table

    from planner.wire.caesar import APPLIED_NOTES, MAP_OPTIONS, RUN_OPTIONS, app_schemas, unapplied_options

    table = Table("option", "type", "default", "here", box=None)
    for name, spec in sorted(app_schemas()["caesar"]["describe"].items()):
        if name in RUN_OPTIONS:
            here = "how caesar runs: no effect on results"
            if name == "tilesize":
                here += " (with tilesplit: this engine's tile size)"
        elif name.replace("-", "_") in MAP_OPTIONS:
            here = "map output (FITS with save-fits)"
        elif unapplied_options({name: None}):
            here = "[red]not implemented: named, never ignored in silence[/red]"
        else:
            here = APPLIED_NOTES.get(name, "applied")
        if not unapplied or "not implemented" in here:
            table.add_row(name, str(spec.get("type", "")), str(spec.get("default", "")), here)
    console.print(table)


@app.command(epilog="Example: `cirasa plan request.yaml --broker http://127.0.0.1:8790 --json`")
def plan(
    request_file: Path = typer.Argument(..., help="ExecutionRequest as YAML or JSON."),
    broker: str = typer.Option(None, help="Broker URL (default: the local one)."),
    as_json: bool = typer.Option(False, "--json", help="Print the offer set, choice and table as JSON."),
    hold: bool = typer.Option(False, help="Leave the offers OFFERED until they expire instead of rejecting them."),
) -> None:
    """Ask the broker for offers and show the table with the choice and the reasons.

    Nothing is accepted; the offers are then rejected so they hold no capacity (unless `--hold`).
    Exits 1 when no offer is usable (the table then lists why each platform declined).
    """
    from datetime import UTC, datetime

    from cirasa.render import offers_table, plan_document
    from planner.adapters.remote_broker import reject_offers
    from planner.client import BrokerClient
    from planner.engine.choose import Choice, NoOfferError, choose, declined_rows
    from planner.errors import PlannerError
    from planner.wire.models import ExecutionRequest, OfferSetResponse

    url = broker or services.ServiceConfig.from_env().broker_url
    try:
        request = ExecutionRequest.model_validate(yaml.safe_load(request_file.read_text()))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise _fail("request-invalid", f"{request_file}: {exc}", 2) from None

    async def _offers() -> OfferSetResponse:
        async with BrokerClient(url) as client:
            offer_set = await client.request_offers(request)
            if not hold:
                await reject_offers(client, offer_set)
            return offer_set

    try:
        offer_set = asyncio.run(_offers())
    except PlannerError as exc:
        raise _fail(exc.code, exc.detail) from None
    choice: Choice | None = None
    reasons: list[str] = []
    try:
        choice = choose(offer_set, datetime.now(UTC))  # as offered (the rejections came after)
        rows = choice.rows
    except NoOfferError as exc:
        rows, reasons = tuple(declined_rows(offer_set)), list(exc.extra.get("reasons", [exc.detail]))
    if as_json:
        console.print_json(json.dumps(plan_document(url, offer_set, choice, rows, reasons)))
    else:
        console.print(offers_table(rows, title=f"Offers from {url}"))
        if choice is not None:
            chosen = next(r for r in rows if r.status == "chosen")
            console.print(f"chosen: {chosen.platform} (work pool {chosen.work_pool}): {chosen.why}")
    if choice is None:
        raise _fail(NoOfferError.code, "; ".join(reasons))


@app.command(epilog="Example: `make demo` or `cirasa demo --size 1024 --sources 150`")
def demo(
    size: int = typer.Option(1024, min=128, help="Simulated image side, pixels (tiles of 512 fan out on Dask)."),
    sources: int = typer.Option(200, min=1, help="Simulated sources."),
    seed: int = typer.Option(42, help="Random seed."),
) -> None:
    """Run the main job end to end: services, offers, choice, extraction on the chosen pool, summary."""
    from cirasa.demo import run_demo

    raise typer.Exit(run_demo(console, size=size, n_sources=sources, seed=seed))


# --------------------------------------------------------------------------- cirasa classify
class _ClassifyGroup(typer.core.TyperGroup):
    """`cirasa classify X` runs `cirasa classify catalogue X` unless X names a subcommand (`train`)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["catalogue", *args]
        return super().parse_args(ctx, args)


classify_app = typer.Typer(
    cls=_ClassifyGroup,
    help="Classify sources as compact / extended / spurious, with `<n>C_<m>P` labels: "
    "`cirasa classify CATALOG_OR_IMAGE` or `cirasa classify train`.",
    epilog="Example: `cirasa classify catalog-sky.dat --out classified/` or `cirasa classify train`",
    no_args_is_help=True,
)
app.add_typer(classify_app, name="classify")


@classify_app.command(
    "catalogue", epilog="Example: `cirasa classify catalog-sky.dat --out classified/` or `cirasa classify sky.fits`"
)
def classify_catalogue(
    target: Path = typer.Argument(
        ..., help="A FITS image (extracted with fitting first) or a caesar catalog-<base>.dat."
    ),
    out: Path = typer.Option(Path("."), "--out", help="Output directory."),
    model: Path | None = typer.Option(None, help="Model stamp (.json) written by `cirasa classify train`."),
    onnx: Path | None = typer.Option(None, help="An external ONNX model instead (needs onnxruntime)."),
    truth: Path | None = typer.Option(None, help="Truth table (.ecsv) of a simulated image: confusion against it."),
) -> None:
    """Add a class and its probability to every source; write the classified catalogues and a confusion PNG."""
    from flows.classify import classify_and_write
    from science.errors import ScienceError

    _writable_dir(out)
    try:
        summary = classify_and_write(
            str(target), str(out), model=str(model) if model else None, onnx=str(onnx) if onnx else None,
            truth=str(truth) if truth else None,
        )  # fmt: skip
    except ScienceError as exc:
        raise _fail(exc.code, str(exc)) from None
    counts = ", ".join(f"{n} {c}" for c, n in summary["class_counts"].items())
    console.print(f"{summary['n_sources']} source(s): {counts}; wrote {', '.join(summary['files'])}")


@classify_app.command("train", epilog="Example: `cirasa classify train --out science/classify/models/morphology.json`")
def classify_train(
    out: Path = typer.Option(None, "--out", help="Model stamp to write (default: the model shipped in the repo)."),
    images: int = typer.Option(16, min=1, help="Simulated training images (seeds 1000, 1001, …)."),
    size: int = typer.Option(1024, min=128, help="Training image side, pixels."),
    model_version: str = typer.Option("1", help="Version written into the stamp."),
) -> None:
    """Train the classifier on seeded simulated images (reproducible) and write it with its stamp."""
    from science.classify.training import TrainingSpec, train_classifier
    from science.errors import ScienceError
    from science.io.classified import DEFAULT_MODEL, write_classifier

    spec = TrainingSpec(seeds=tuple(range(1000, 1000 + images)), size=size)
    try:
        classifier, metrics = train_classifier(spec, model_version=model_version)
    except ScienceError as exc:
        raise _fail(exc.code, str(exc)) from None
    path = write_classifier(classifier, out or DEFAULT_MODEL)
    validation = metrics.get("validation", metrics["training"])
    console.print(
        f"trained on {metrics['training']['n_sources']} sources; validation accuracy {validation['accuracy']:.3f}; "
        f"wrote {path} and {path.with_suffix('.joblib').name}"
    )


if __name__ == "__main__":
    app()
