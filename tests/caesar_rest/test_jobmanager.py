"""The caesar-rest job manager's own logic: caesar's command line read back, Prefect states mapped, and what it
answers when Prefect cannot be reached (no server needed)."""

from __future__ import annotations

import pytest

from cirasa.jobmanager import STATE_MAP, PrefectJobManager, app_of, caesar_options, job_status

# What caesar-rest's caesar app builds for {"seedthr": 4, "no-extendedsearch": true, "bkgestimator": "ClippedMedian"}
COMMAND = (
    "--run --save-summaryplot --save-regions  --save-catalog-to-json  --seedthr=4.0 --no-extendedsearch "
    "--bkgestimator=4 --nthreads=2 --inputfile=/data/anonymous/0a1b.fits"
)


def test_caesar_command_line_reads_back_into_caesar_rest_options() -> None:
    assert caesar_options(COMMAND) == {
        "seedthr": "4.0",
        "no-extendedsearch": True,
        "bkgestimator": "ClippedMedian",  # caesar's number back to caesar-rest's name
        "nthreads": "2",
    }


def test_every_enum_code_caesar_rest_writes_reads_back() -> None:
    assert caesar_options("--extsfinder=1 --regionwcs=2 --res-removedsourcetype=-1 --smoothfilter=2") == {
        "extsfinder": "WT-THRESH",
        "regionwcs": "GALACTIC",
        "res-removedsourcetype": "ALL",
        "smoothfilter": "GUIDED",
    }


def test_a_command_line_with_a_stray_word_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected argument 'oops'"):
        caesar_options("--seedthr=5 oops")
    manager = PrefectJobManager(api_url="http://127.0.0.1:9/api")
    assert manager.create_job(job_args="--seedthr=5 oops", inputfile="/x.fits", job_name="j", job_outdir="/o") is None


def test_create_job_sends_the_image_job_directory_options_and_capped_cores() -> None:
    manager = PrefectJobManager(api_url="http://127.0.0.1:9/api")
    manager.max_cores = 3
    job = manager.create_job(
        image="caesar.sif", job_args=COMMAND, inputfile="/data/a.fits", job_name="abc", job_outdir="/jobs/job_abc",
        job_run_opts={"ncores": 8, "nproc": 1},
    )  # fmt: skip
    assert job is not None
    assert job["name"] == "abc"
    assert job["parameters"]["image"] == "/data/a.fits"
    assert job["parameters"]["output_dir"] == "/jobs/job_abc"
    assert job["parameters"]["options"]["seedthr"] == "4.0"
    assert job["parameters"]["resources"] == {"cores_min": 1, "cores_max": 3}


@pytest.mark.parametrize(
    ("prefect", "state", "exit_code"),
    [
        ("SCHEDULED", "PENDING", -1),
        ("PENDING", "PENDING", -1),
        ("RUNNING", "RUNNING", -1),
        ("CANCELLING", "RUNNING", -1),
        ("COMPLETED", "SUCCESS", 0),
        ("FAILED", "FAILURE", 1),
        ("CRASHED", "FAILURE", 1),
        ("CANCELLED", "CANCELED", 130),
    ],
)
def test_prefect_states_map_to_caesar_rest_states(prefect: str, state: str, exit_code: int) -> None:
    run = {"state": {"type": prefect, "message": "boom: BUNIT='K'"}, "total_run_time": 12.34}
    status = job_status(run)
    assert (status["state"], status["exit_code"], status["elapsed_time"]) == (state, exit_code, 12.3)
    if state in ("FAILURE", "CANCELED"):
        assert status["status"] == "boom: BUNIT='K'", "a failed run's reason reaches caesar-rest"
    else:
        assert status["status"] == STATE_MAP[prefect][1]


def test_an_unknown_prefect_state_ends_monitoring_as_unknown() -> None:
    assert job_status({"state": {"type": "NEW-KIND"}})["state"] == "UNKNOWN"


def test_without_a_prefect_server_every_call_answers_as_caesar_rest_expects() -> None:
    manager = PrefectJobManager(api_url="http://127.0.0.1:9/api", timeout_s=2)
    assert manager.initialize() == -1  # caesar-rest's run_app.py then exits
    reply = manager.submit_job({"name": "abc", "parameters": {}})
    assert (
        "job_id" not in reply
        and "cannot create the flow run of process-image/cirasa-local" in reply["errors"][0]["error"]
    )
    run = "8a88ea95-003a-4ce6-a655-5082bfeef6da"
    assert manager.get_job_statuses([run]) is None  # the monitor leaves the job alone and asks again
    assert manager.get_job_statuses([]) is None
    assert manager.get_job_status(run) is None
    assert manager.delete_job("x") == -1  # caesar-rest answers 500, the job keeps its state


def test_pids_that_are_no_flow_runs_are_left_out_without_asking_prefect() -> None:
    manager = PrefectJobManager(api_url="http://127.0.0.1:9/api", timeout_s=2)
    assert manager.get_job_statuses(["12345", "slurm-7"]) == {}  # caesar-rest clears them if RUNNING


@pytest.mark.parametrize(
    ("image", "args", "app"),
    [
        ("/opt/containers/caesar/caesar-job_latest.sif", "--seedthr=5", "caesar"),
        ("/opt/containers/mrcnn/mrcnn-detect_latest.sif", "--scoreThr=0.7", "mrcnn"),
        ("/opt/containers/aegean/aegean-job_latest.sif", "--seedclip=5", "aegean"),
        ("/opt/containers/cutex/cutex-job_latest.sif", "--npixmin=4", "cutex"),
        ("/images/job.sif", "--seedthr=5 --no-extendedsearch", "caesar"),  # options caesar has
        ("/images/job.sif", "--seedclip=5", "other"),
    ],
)
def test_only_caesar_jobs_are_taken(image: str, args: str, app: str) -> None:
    assert app_of(image, caesar_options(args)) == app
    manager = PrefectJobManager(api_url="http://127.0.0.1:9/api")
    job = manager.create_job(image=image, job_args=args, inputfile="/d/a.fits", job_name="j", job_outdir="/o")
    assert (job is not None) == (app == "caesar")  # caesar-rest: HTTP 500 "Job failed to be submitted!"


def test_paths_move_to_where_the_workers_see_caesar_rests_folders() -> None:
    manager = PrefectJobManager(api_url="http://127.0.0.1:9/api")
    manager.app_datadir, manager.cluster_datadir = "/opt/caesar-rest/data", "/mnt/storage/data"
    manager.app_jobdir, manager.cluster_jobdir = "/opt/caesar-rest/jobs", "/mnt/storage/jobs"
    job = manager.create_job(
        image="caesar.sif", job_args="--seedthr=5", inputfile="/opt/caesar-rest/data/anonymous/a.fits",
        job_name="j", job_outdir="/opt/caesar-rest/jobs/anonymous/job_j",
    )  # fmt: skip
    assert job is not None
    assert job["parameters"]["image"] == "/mnt/storage/data/anonymous/a.fits"
    assert job["parameters"]["output_dir"] == "/mnt/storage/jobs/anonymous/job_j"
    outside = manager.create_job(
        image="caesar.sif", job_args="", inputfile="/tmp/a.fits", job_name="k", job_outdir="/o"
    )
    assert outside is None, "a file outside caesar-rest's data folder cannot be found by the workers"


def test_an_operators_extraction_settings_go_with_every_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRASA_CAESAR_PARAMS", '{"seedpeakinterp": true, "bkgislandcorrection": true}')
    manager = PrefectJobManager(api_url="http://127.0.0.1:9/api")
    job = manager.create_job(image="caesar.sif", job_args="--seedthr=4", inputfile="/d/a.fits", job_outdir="/j/x")
    assert job is not None
    assert job["parameters"]["params"] == {"seedpeakinterp": True, "bkgislandcorrection": True}
    assert job["parameters"]["options"] == {"seedthr": "4"}, "caesar-rest's own options still go, over them"
    given = PrefectJobManager(api_url="http://127.0.0.1:9/api", params={"npixmin": 7})
    assert given.create_job(inputfile="/d/a.fits", job_outdir="/j/x")["parameters"]["params"] == {"npixmin": 7}  # type: ignore[index]
    monkeypatch.delenv("CIRASA_CAESAR_PARAMS")
    plain = PrefectJobManager(api_url="http://127.0.0.1:9/api").create_job(inputfile="/d/a.fits", job_outdir="/j/x")
    assert plain is not None and "params" not in plain["parameters"], "none: the deployment's own defaults"


@pytest.mark.parametrize(
    ("value", "message"),
    [("{seedthr: 4", "CIRASA_CAESAR_PARAMS is not JSON"), ("[1, 2]", "must be a JSON object of extraction settings")],
)
def test_bad_operator_settings_stop_caesar_rest_at_start_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str, message: str
) -> None:
    monkeypatch.setenv("CIRASA_CAESAR_PARAMS", value)
    manager = PrefectJobManager(api_url="http://127.0.0.1:9/api")
    assert manager.initialize() == -1
    assert message in caplog.text
    assert "127.0.0.1:9" not in caplog.text, "refused before asking Prefect"


def test_the_params_fields_come_from_the_deployments_parameter_schema() -> None:
    from cirasa.jobmanager import _params_fields

    model = {"properties": {"seedthr": {"type": "number"}, "npixmin": {"type": "integer"}}}
    schema = {
        "properties": {"params": {"$ref": "#/definitions/ExtractionParams"}},
        "definitions": {"ExtractionParams": model},
    }
    assert _params_fields(schema) == {"seedthr", "npixmin"}
    newer = {
        "properties": {"params": {"allOf": [{"$ref": "#/$defs/ExtractionParams"}]}},
        "$defs": {"ExtractionParams": model},
    }
    assert _params_fields(newer) == {"seedthr", "npixmin"}
    assert _params_fields({"properties": {"image": {"type": "string"}}}) is None, "no params: nothing to check"
    assert _params_fields(None) is None
