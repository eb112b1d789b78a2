import json

import orjson
import pytest

from cluster.actor import statefile
from cluster.actor.events import EventLog
from cluster.common.errors import InvalidInput, NotFound
from cluster.common.timeutil import day_of, rfc3339

DAY = 86400
HOUR = 3600
T0 = 1_700_000_000 - 1_700_000_000 % DAY  # a midnight, UTC
D0 = day_of(T0)


def filled() -> EventLog:
    log = EventLog()
    for user, metric, count, ts in [
        ("ann", "clicks", 3, T0 + 10),
        ("bob", "clicks", 5, T0 + 20),
        ("ann", "clicks", 1, T0 + 30),
        ("ann", "views", 7, T0 + 40),
        ("cid", "views", 2, T0 - DAY + 5),  # the day before
    ]:
        log.add(user, metric, count, ts)
    return log


def test_distinct_users_counts_users_not_events_per_day():
    log = filled()
    assert log.distinct_users("clicks", D0) == {
        "metric": "clicks",
        "day": D0,
        "distinct_users": 2,
        "events": 3,
        "total": 9,
    }
    assert log.distinct_users("views", day_of(T0 - DAY))["distinct_users"] == 1


def test_distinct_users_day_without_events_of_known_metric_is_zeros():
    log = filled()
    row = log.distinct_users("clicks", day_of(T0 + 5 * DAY))
    assert (row["distinct_users"], row["events"], row["total"]) == (0, 0, 0)


def test_distinct_users_unknown_metric_and_bad_day_raise():
    log = filled()
    with pytest.raises(NotFound, match="no events for metric 'nope'"):
        log.distinct_users("nope", D0)
    with pytest.raises(InvalidInput):
        log.distinct_users("clicks", "2024-2-2")


def test_hourly_total_groups_by_metric_sorted():
    log = filled()
    assert log.hourly_total(now=T0 + 60) == [
        {"_id": "clicks", "average": 3.0, "count": 3, "maximum": 5, "minimum": 1},
        {"_id": "views", "average": 7.0, "count": 1, "maximum": 7, "minimum": 7},
    ]


def test_hourly_per_user_groups_by_metric_then_username():
    log = filled()
    assert log.hourly_per_user(now=T0 + 60) == [
        {
            "_id": {"metric": "clicks", "username": "ann"},
            "average": 2.0,
            "count": 2,
            "maximum": 3,
            "minimum": 1,
        },
        {
            "_id": {"metric": "clicks", "username": "bob"},
            "average": 5.0,
            "count": 1,
            "maximum": 5,
            "minimum": 5,
        },
        {
            "_id": {"metric": "views", "username": "ann"},
            "average": 7.0,
            "count": 1,
            "maximum": 7,
            "minimum": 7,
        },
    ]


def test_hourly_empty_is_an_empty_list():
    log = EventLog()
    assert log.hourly_total(now=T0) == []
    assert log.hourly_per_user(now=T0) == []


def test_hourly_window_excludes_events_exactly_an_hour_old_whatever_their_order():
    log = EventLog()
    log.add("ann", "clicks", 4, T0 + 100)  # arrives first, but is the newer one
    log.add("ann", "clicks", 8, T0)
    assert log.hourly_total(now=T0 + HOUR - 1) == [
        {"_id": "clicks", "average": 6.0, "count": 2, "maximum": 8, "minimum": 4}
    ]
    assert log.hourly_total(now=T0 + HOUR) == [
        {"_id": "clicks", "average": 4.0, "count": 1, "maximum": 4, "minimum": 4}
    ]
    assert log.hourly_per_user(now=T0 + HOUR + 100) == []


def test_prune_drops_last_hour_events_but_not_day_counts():
    log = EventLog()
    log.add("ann", "clicks", 4, T0)
    log.add("bob", "clicks", 6, T0 + 100)
    log.prune(now=T0 + HOUR)
    assert log.hourly_total(now=T0 + 1) == [
        {"_id": "clicks", "average": 6.0, "count": 1, "maximum": 6, "minimum": 6}
    ]
    assert log.distinct_users("clicks", D0)["events"] == 2


def test_prune_folds_day_sets_after_daily_days_and_keeps_counts():
    log = EventLog(daily_days=2)
    for user in ["ann", "bob", "ann"]:
        log.add(user, "clicks", 2, T0 + 10)
    log.add("ann", "clicks", 1, T0 + DAY)
    log.prune(now=T0 + 2 * DAY + 5)  # T0's day is exactly 2 days back: kept whole
    assert log.state()["days"]["clicks"][D0]["users"] == {"ann", "bob"}
    log.prune(now=T0 + 3 * DAY)
    folded = log.state()["days"]["clicks"][D0]
    assert folded["users"] is None
    assert log.distinct_users("clicks", D0) == {
        "metric": "clicks",
        "day": D0,
        "distinct_users": 2,
        "events": 3,
        "total": 6,
    }
    assert log.state()["days"]["clicks"][day_of(T0 + DAY)]["users"] == {"ann"}


def test_event_replayed_into_folded_day_adds_events_not_users():
    log = EventLog(daily_days=0)
    log.add("ann", "clicks", 2, T0)
    log.prune(now=T0 + DAY)
    log.add("zed", "clicks", 5, T0 + 1)
    row = log.distinct_users("clicks", D0)
    assert (row["distinct_users"], row["events"], row["total"]) == (1, 2, 7)


def test_first_seen_keeps_minimum_ts_under_out_of_order_adds():
    log = EventLog()
    log.add("ann", "clicks", 1, T0 + 50)
    log.add("ann", "clicks", 1, T0 + 10.5)
    log.add("ann", "views", 1, T0 + 30)
    assert log.first_seen("ann") == {
        "username": "ann",
        "first_seen": T0 + 10.5,
        "first_seen_at": "2023-11-14T00:00:10.500000Z",
    }


def test_first_seen_unknown_user_raises_not_found():
    with pytest.raises(NotFound, match="no user named 'ann'"):
        EventLog().first_seen("ann")


def test_refuse_max_users_counts_only_new_users_once():
    log = EventLog(max_users=3)
    log.add("ann", "clicks", 1, T0)
    new = log.unknown_users({"ann", "bob", "cid"})
    assert new == {"bob", "cid"}
    assert log.refuse(len(new), 4, now=T0) is None
    refused = log.refuse(len(new | {"dan"}), 5, now=T0)
    assert refused.reason == "limit" and "3 distinct users" in refused.detail
    with pytest.raises(NotFound):
        log.first_seen("bob")  # refuse() changed nothing


def test_refuse_max_recent_counts_held_events():
    log = EventLog(max_recent=3)
    log.add("ann", "clicks", 1, T0)
    log.add("ann", "clicks", 1, T0 + 1)
    assert log.refuse(0, 1, now=T0 + 1) is None
    refused = log.refuse(0, 2, now=T0 + 1)
    assert refused.reason == "busy" and "3 events" in refused.detail
    log.prune(now=T0 + HOUR + 0.5)  # forgets the first event, making room
    assert log.refuse(0, 2, now=T0 + HOUR + 0.5) is None


def test_state_round_trip_through_json_answers_every_read_the_same():
    log = filled()
    log.add("dee", "clicks", 9, T0 + 0.1)
    limits = {"daily_days": 0, "max_users": 10}
    state, log = log.state(), EventLog(**limits)
    log.load(state)
    log.prune(now=T0 + 60)  # folds the day before T0, keeps T0's whole, forgets cid's event
    assert log.state()["days"]["views"][day_of(T0 - DAY)]["users"] is None
    copy = EventLog(**limits)
    copy.load(orjson.loads(statefile.encode(log.state())))
    for now in [T0 + 60, T0 + HOUR]:
        assert copy.hourly_total(now) == log.hourly_total(now)
        assert copy.hourly_per_user(now) == log.hourly_per_user(now)
    for metric in ["clicks", "views"]:
        for day in [day_of(T0 - DAY), D0]:
            assert copy.distinct_users(metric, day) == log.distinct_users(metric, day)
    for user in ["ann", "bob", "cid", "dee"]:
        assert copy.first_seen(user) == log.first_seen(user)
    assert copy.state() == log.state()
    assert copy.refuse(7, 7, T0) == log.refuse(7, 7, T0) is not None  # 4 known + 7 > 10 users


def test_full_last_hour_refusal_is_busy_and_says_when_room_frees_up():
    log = EventLog(max_recent=3)
    for i in range(3):
        log.add("ann", "clicks", 1, T0 + 10 * i)
    refused = log.refuse(0, 2, now=T0 + 30)
    # Two events must leave: the second oldest (T0 + 10) does an hour after its ts.
    assert refused.reason == "busy"
    assert f"at {rfc3339(T0 + 10 + HOUR)} (in {HOUR - 20} s)" in refused.detail
    log.prune(now=T0 + 10 + HOUR)
    assert log.refuse(0, 2, now=T0 + 10 + HOUR) is None


def test_more_events_than_the_last_hour_holds_can_never_fit():
    refused = EventLog(max_recent=3).refuse(0, 4, now=T0)
    assert refused.reason == "limit" and "smaller requests" in refused.detail


def test_idle_users_are_forgotten_and_come_back_as_new():
    log = EventLog(max_users=2, user_idle=100)
    log.add("ann", "clicks", 1, T0)
    log.add("bob", "clicks", 1, T0 + 50)
    refused = log.refuse(1, 1, now=T0 + 60)
    assert refused.reason == "limit"
    assert f"forgotten: at {rfc3339(T0 + 100)} (in 40 s)" in refused.detail
    assert log.expire_users(now=T0 + 99) == 0
    assert log.expire_users(now=T0 + 100) == 1  # ann: no event for 100 s
    assert log.refuse(1, 1, now=T0 + 100) is None
    with pytest.raises(NotFound):
        log.first_seen("ann")
    log.add("ann", "clicks", 1, T0 + 120)
    assert log.first_seen("ann")["first_seen"] == T0 + 120
    assert log.first_seen("bob")["first_seen"] == T0 + 50
    assert log.distinct_users("clicks", D0)["distinct_users"] == 2  # the day's count stays


def test_a_user_counts_as_active_from_its_newest_event_whatever_the_order():
    log = EventLog(user_idle=100)
    log.add("ann", "clicks", 1, T0 + 80)
    log.add("bob", "clicks", 1, T0 + 90)
    log.add("ann", "clicks", 1, T0)  # out of order: ann's newest stays T0 + 80
    assert log.expire_users(now=T0 + 179) == 0
    assert log.expire_users(now=T0 + 180) == 1
    assert log.first_seen("bob")["first_seen"] == T0 + 90
    with pytest.raises(NotFound):
        log.first_seen("ann")


def test_expire_users_spares_those_it_is_told_to_keep():
    log = EventLog(user_idle=10)
    log.add("ann", "clicks", 1, T0)
    log.add("bob", "clicks", 1, T0 + 1)
    assert log.expire_users(now=T0 + 100, keep={"ann"}) == 1
    assert log.first_seen("ann")["first_seen"] == T0
    assert log.expire_users(now=T0 + 100) == 1


def test_days_past_days_kept_are_dropped_and_their_metric_forgotten():
    log = EventLog(days_kept=3)
    log.add("ann", "old", 1, T0)
    log.add("ann", "clicks", 1, T0)
    log.add("ann", "clicks", 1, T0 + 2 * DAY)
    log.prune(now=T0 + 2 * DAY + 5)  # T0's day is the third: kept
    assert log.distinct_users("old", D0)["events"] == 1
    log.prune(now=T0 + 3 * DAY)
    with pytest.raises(NotFound):
        log.distinct_users("old", D0)
    assert log.distinct_users("clicks", D0)["events"] == 0
    assert log.distinct_users("clicks", day_of(T0 + 2 * DAY))["events"] == 1
    assert log.stats()["days"] == 1


def test_stats_count_what_is_held():
    log = filled()
    assert log.stats() == {
        "recent_events": 5,
        "hourly_user_keys": 4,
        "max_recent_events": 1_000_000,
        "users": 3,
        "max_users": 1_000_000,
        "user_idle_seconds": None,
        "metrics": 2,
        "days": 3,
        "days_kept": None,
        "max_days": 5_000_000,
    }


def test_state_saved_before_users_expired_loads_with_users_seen_at_its_newest_event():
    log = filled()
    old = log.state()
    del old["last_seen"]  # what the previous code saved
    again = EventLog(user_idle=100)
    again.load(orjson.loads(statefile.encode(old)))
    assert again.expire_users(now=T0 + 40 + 99) == 0  # the newest event is at T0 + 40
    assert again.first_seen("cid")["first_seen"] == T0 - DAY + 5
    assert again.expire_users(now=T0 + 40 + 100) == 3


def test_state_round_trip_keeps_the_idle_order():
    log = EventLog(user_idle=100)
    log.add("bob", "clicks", 1, T0)
    log.add("ann", "clicks", 1, T0 + 50)
    again = EventLog(user_idle=100)
    again.load(orjson.loads(statefile.encode(log.state())))
    assert again.expire_users(now=T0 + 100) == 1
    assert again.first_seen("ann")["first_seen"] == T0 + 50


def test_a_day_total_past_64_bits_is_saved_and_loaded():
    log = EventLog()
    for _ in range(3):  # a counter deleted and posted again can add up that far
        log.add("ann", "clicks", 2**63 - 1, T0)
    state = orjson.loads(statefile.encode(log.state()))
    again = EventLog()
    again.load(state)
    assert again.distinct_users("clicks", D0)["total"] == 3 * (2**63 - 1)


def test_an_answer_with_an_integer_past_64_bits_is_valid_json():
    from api.responses import JSONResponse

    body = JSONResponse({"total": 3 * (2**63 - 1), "user": "än"}).body
    assert json.loads(body) == {"total": 3 * (2**63 - 1), "user": "än"}


def test_past_max_days_the_oldest_days_go_whole_at_the_turn_of_a_day():
    log = EventLog(max_days=3)
    for offset, metrics in ((0, "ab"), (1, "ab"), (2, "a")):
        for metric in metrics:
            log.add("ann", metric, 1, T0 + offset * DAY)
    log.prune(now=T0 + 2 * DAY + 5)  # 5 entries: D0's two go, D1's two and D2's one stay
    assert log.stats()["days"] == 3
    assert log.distinct_users("a", D0)["events"] == 0
    assert log.distinct_users("b", day_of(T0 + DAY))["events"] == 1
    # One day alone past the bound stays: the newest day is never dropped.
    crowded = EventLog(max_days=1)
    for metric in "abc":
        crowded.add("ann", metric, 1, T0)
    crowded.prune(now=T0 + 5)
    assert crowded.stats()["days"] == 3


def test_days_ahead_of_the_actors_clock_do_not_push_out_today():
    log = EventLog(max_days=2)
    for offset, metric in ((-1, "a"), (0, "a"), (0, "b"), (1, "a")):  # (1: a node ahead)
        log.add("ann", metric, 1, T0 + offset * DAY)
    log.prune(now=T0 + 5)
    assert log.distinct_users("b", D0)["events"] == 1  # today's entries stay
    assert log.distinct_users("a", day_of(T0 - DAY))["events"] == 0  # yesterday's went
