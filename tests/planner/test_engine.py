"""The pure offer engine: eligibility, offers within min/max, scoring, deterministic order, choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planner.engine.choose import NoOfferError, choose
from planner.engine.eligibility import judge
from planner.engine.evaluate import evaluate
from planner.engine.model import PlatformKind, PlatformSnapshot, ResourceRequest, StartBand
from planner.engine.request import build_resource_request, parse_duration, parse_interval
from planner.engine.scoring import ScoringWeights, is_under
from planner.wire import kinds
from planner.wire.models import ExecutionRequest

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def snap(
    name: str, *, cores: int = 4, free: int = 4, memory: float = 8, start_in_s: float = 0, **kw: object
) -> PlatformSnapshot:
    start = StartBand(NOW + timedelta(seconds=start_in_s), NOW + timedelta(seconds=start_in_s + 60), "test")
    fields: dict[str, object] = dict(
        name=name,
        kind=PlatformKind.SLURM,
        work_pool=f"pool-{name}",
        available=True,
        total_cores=cores,
        free_cores=free,
        total_memory_gib=memory,
        free_memory_gib=memory,
        start=start,
    )
    fields.update(kw)
    return PlatformSnapshot(**fields)  # type: ignore[arg-type]


def test_every_unmet_requirement_is_listed() -> None:
    request = ResourceRequest(
        cores_min=8, cores_max=8, memory_gib_min=64, memory_gib_max=64, duration=timedelta(hours=2)
    )
    verdict = judge(
        request,
        snap("a", cores=16, memory=16, max_cores_per_job=4, max_walltime=timedelta(hours=1), cost_per_core_hour=0.5),
    )
    assert not verdict.eligible
    assert [r.kind for r in verdict.reasons] == ["urn:resource-limit"] * 3
    assert [r.message for r in verdict.reasons] == [
        "Minimum cores [8] exceeds the limit [4] of platform a (per-job limit 4 cores; 16 in total)",
        "Minimum memory (GiB) [64] exceeds the limit [16] of platform a (total capacity 16 GiB)",
        "Minimum duration [2:00:00] exceeds the limit [1:00:00] of platform a (maximum wall time per job)",
    ]
    assert verdict.reasons[0].values == {
        "name": "cores",
        "wanted": "8",
        "limit": "4",
        "platform": "a",
        "which": "per-job limit 4 cores; 16 in total",
    }


def test_unavailable_platform_without_capacity_lists_only_why_it_is_unavailable() -> None:
    down = snap("d", cores=0, free=0, memory=0, available=False, start=None, unavailable_reasons=("daemon down",))
    verdict = judge(ResourceRequest(cores_min=2, cores_max=2), down)
    assert [r.message for r in verdict.reasons] == ["Platform d cannot take work now: daemon down"]


def test_cost_over_budget_is_declined_with_the_arithmetic() -> None:
    request = ResourceRequest(cores_min=4, cores_max=4, duration=timedelta(hours=2), cost_max=3.0)
    verdict = judge(request, snap("hpc", cost_per_core_hour=0.5))
    assert [r.kind for r in verdict.reasons] == ["urn:cost-limit"]
    assert verdict.reasons[0].message == (
        "Minimum cost [4] on platform hpc exceeds the budget [3] (4 core(s) for 2 h at 0.5 per core-hour)"
    )


def test_cheaper_platform_wins_and_offer_carries_its_cost() -> None:
    request = ResourceRequest(cores_min=2, cores_max=2, duration=timedelta(hours=1), cost_max=10.0)
    snapshots = [snap("dear", cost_per_core_hour=2.0), snap("cheap", cost_per_core_hour=0.5), snap("free")]
    evaluation = evaluate(request, snapshots, {}, now=NOW, ttl=timedelta(minutes=5))
    assert [o.platform for o in evaluation.offers] == ["free", "cheap", "dear"]
    by_name = {o.platform: o for o in evaluation.offers}
    assert (by_name["cheap"].cost, by_name["free"].cost) == (1.0, None)
    assert by_name["cheap"].score_terms["cost"] == pytest.approx(-0.1)  # 1 of a budget of 10
    assert by_name["dear"].score_terms["cost"] == pytest.approx(-0.4)
    no_budget = evaluate(ResourceRequest(), [snap("c", cost_per_core_hour=1.0)], {}, now=NOW, ttl=timedelta(1))
    assert no_budget.offers[0].score_terms["cost"] == pytest.approx(-1 / 7)  # cost 1/6, penalty (1/6) / (1/6 + 1)


def test_inputs_under_a_platforms_data_roots_score_higher() -> None:
    request = ResourceRequest(inputs=("/data/survey/t1.fits", "/data/survey/t2.fits", "s3://bucket/t3.fits"))
    snapshots = [snap("a"), snap("near", data_roots=("/data/survey/",)), snap("s3", data_roots=("s3://bucket",))]
    evaluation = evaluate(request, snapshots, {}, now=NOW, ttl=timedelta(minutes=5))
    assert [o.platform for o in evaluation.offers] == ["near", "s3", "a"]
    terms = {o.platform: o.score_terms["locality"] for o in evaluation.offers}
    assert terms == pytest.approx({"near": 2 / 3, "s3": 1 / 3, "a": 0.0})
    assert not is_under("/database/x.fits", "/data")


def test_clamped_maximum_is_a_warning_note_never_below_the_minimum() -> None:
    request = ResourceRequest(cores_min=2, cores_max=8, memory_gib_min=1, memory_gib_max=2)
    (offer,) = evaluate(request, [snap("s", cores=4, free=4)], {}, now=NOW, ttl=timedelta(minutes=5)).offers
    assert offer.cores == 4
    assert [(n.level, n.message) for n in offer.notes] == [("WARN", "Maximum cores [8] clamped to [4] on platform s")]


def test_unavailable_platform_says_why() -> None:
    verdict = judge(
        ResourceRequest(), snap("p", available=False, start=None, unavailable_reasons=("no worker online",))
    )
    assert not verdict.eligible
    assert verdict.reasons[0].message == "Platform p cannot take work now: no worker online"


def test_offer_respects_min_and_max() -> None:
    request = ResourceRequest(cores_min=2, cores_max=8, memory_gib_min=1, memory_gib_max=4)
    evaluation = evaluate(
        request,
        [snap("big", cores=16, free=16, memory=64), snap("small", cores=2, free=1)],
        {},
        now=NOW,
        ttl=timedelta(minutes=5),
    )
    by_name = {o.platform: o for o in evaluation.offers}
    assert (by_name["big"].cores, by_name["big"].memory_gib) == (8, 4)
    assert by_name["small"].cores == 2  # never below the minimum, even when only 1 core is free now
    assert by_name["big"].expires == NOW + timedelta(minutes=5)
    assert [o.platform for o in evaluation.offers] == ["big", "small"]


def test_later_start_scores_lower_and_ties_break_by_name() -> None:
    request = ResourceRequest()
    evaluation = evaluate(
        request, [snap("late", start_in_s=600), snap("b"), snap("a")], {}, now=NOW, ttl=timedelta(minutes=5)
    )
    assert [o.platform for o in evaluation.offers] == ["a", "b", "late"]
    assert evaluation.offers[2].score_terms["start"] == pytest.approx(1 / 3)


def test_operator_preference_changes_the_order() -> None:
    weights = ScoringWeights(preference={"b": 0.5})
    evaluation = evaluate(
        ResourceRequest(), [snap("a"), snap("b")], {}, now=NOW, ttl=timedelta(minutes=5), weights=weights
    )
    assert [o.platform for o in evaluation.offers] == ["b", "a"]


def test_unreachable_platform_is_reported_not_fatal() -> None:
    evaluation = evaluate(
        ResourceRequest(), [snap("a")], {"dead": "no answer within 2 s"}, now=NOW, ttl=timedelta(minutes=5)
    )
    assert [o.platform for o in evaluation.offers] == ["a"]
    assert evaluation.declined[0].reasons[0].message == "Platform dead did not answer: no answer within 2 s"


def test_start_outside_window_is_declined() -> None:
    request = ResourceRequest(start_after=NOW, start_before=NOW + timedelta(minutes=5))
    verdict = judge(request, snap("slow", start_in_s=3600))
    assert [r.kind for r in verdict.reasons] == ["urn:schedule-limit"]


def test_request_translation_reads_both_kind_generations() -> None:
    body = {
        "executable": {"kind": kinds.P5 + "executable/docker-container-1.0", "image": {"locations": ["x"]}},
        "compute": {
            "kind": kinds.P5 + "computer/simple-compute-resource-1.0",
            "cores": {"min": 2, "max": 4},
            "memory": {"min": 3},
        },
        "schedule": {"requested": {"start": "2026-11-25T12:30:00Z/PT1H", "duration": "PT90M"}},
    }
    resources, problems = build_resource_request(ExecutionRequest.model_validate(body), NOW)
    assert problems == []
    assert resources is not None
    assert (resources.cores_min, resources.cores_max, resources.memory_gib_min, resources.memory_gib_max) == (
        2,
        4,
        3,
        3,
    )
    assert resources.duration == timedelta(minutes=90)
    assert resources.start_after == datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
    assert resources.start_before == datetime(2026, 11, 25, 13, 30, tzinfo=UTC)


def test_request_problems_are_message_items() -> None:
    body = {"compute": {"cores": {"min": 4, "max": 2}}, "schedule": {"requested": {"duration": "90 minutes"}}}
    resources, problems = build_resource_request(ExecutionRequest.model_validate(body), NOW)
    assert resources is None
    assert [p.kind for p in problems] == ["urn:executable-required", "urn:invalid-value", "urn:input-syntax-fail"]
    assert problems[1].message == "Maximum cores [2] is below the minimum [4]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("PT90M", timedelta(minutes=90)), ("P1DT2H", timedelta(days=1, hours=2)), ("PT0.5S", timedelta(seconds=0.5))],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "90M", "PT5X"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 duration"):
        parse_duration(text)


def test_parse_interval_start_end() -> None:
    assert parse_interval("2026-11-25T12:00:00Z/2026-11-25T13:00:00Z")[1] == datetime(2026, 11, 25, 13, tzinfo=UTC)
    with pytest.raises(ValueError, match="no time zone"):
        parse_interval("2026-11-25T12:00:00/PT1H")


def test_choose_without_offers_collects_reasons() -> None:
    from planner.wire.models import ComponentMetadata, MessageItem, OfferSetResponse

    offer_set = OfferSetResponse(
        meta=ComponentMetadata(
            messages=[MessageItem(kind="urn:resource-limit", message="too big", values={"platform": "a"})]
        ),
        result="NO",
    )
    with pytest.raises(NoOfferError, match="no usable offer: too big"):
        choose(offer_set, NOW)
