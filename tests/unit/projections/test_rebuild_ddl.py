"""The rebuild's DDL: shadow sets, the swap statements, retargeted views and what may be chosen."""

from __future__ import annotations

import pytest

from consumers.rebuild import Plan
from warehouse import schema


def test_a_whole_shadow_set_is_the_schema_in_another_database() -> None:
    assert schema.shadow_statements("s", schema.tables()) == schema.statements("s")


def test_a_partial_shadow_set_stores_only_the_chosen_tables() -> None:
    found = schema.shadow_statements("s", ["stats_hourly"])
    heads = [sql.split("(")[0].split("\nAS")[0].strip() for sql in found]
    assert heads == ["CREATE TABLE IF NOT EXISTS `s`.events",
                     "CREATE TABLE IF NOT EXISTS `s`.stats_hourly",
                     "CREATE MATERIALIZED VIEW IF NOT EXISTS `s`.stats_hourly_mv TO `s`.stats_hourly",
                     "CREATE TABLE IF NOT EXISTS `s`.stats_duplicates"]
    assert found[0].endswith("ENGINE = Null")
    assert "`d`" not in "".join(found)


def test_the_swap_is_one_exchange_per_table_or_one_rename() -> None:
    assert schema.swap_statements("d", "s", ["a", "b"], exchange=True) == [
        "EXCHANGE TABLES `d`.`a` AND `s`.`a`", "EXCHANGE TABLES `d`.`b` AND `s`.`b`"]
    assert schema.swap_statements("d", "s", ["a", "b"], exchange=False) == [
        "RENAME TABLE `d`.`a` TO `s`.`a_old`, `s`.`a` TO `d`.`a`, "
        "`d`.`b` TO `s`.`b_old`, `s`.`b` TO `d`.`b`"]


def test_a_retargeted_view_reads_one_database_and_writes_another() -> None:
    [sql] = schema.retargeted_views("s", "d", ["suppressions_mv"])
    assert sql.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS `s`.suppressions_mv TO `d`.suppressions")
    assert "FROM `s`.events" in sql and "`d`.events" not in sql


def test_views_are_found_by_the_table_they_fill() -> None:
    assert schema.views_into(["stats_hourly", "suppressions"]) == ["stats_hourly_mv", "suppressions_mv"]
    assert schema.views_into(["stats_duplicates"]) == []
    assert schema.with_companions(["stats_hourly"]) == ["stats_hourly", "stats_duplicates"]


def test_what_a_rebuild_may_choose() -> None:
    assert Plan.of("d").chosen == tuple(schema.tables()) and Plan.of("d").whole
    partial = Plan.of("d", ["suppressions", "stats_hourly"])
    assert (partial.chosen, partial.whole, partial.lists_backlog) == (
        ("stats_hourly", "suppressions", "stats_duplicates"), False, True)
    assert not Plan.of("d", ["health_history"]).lists_backlog
    assert Plan.of("live").shadow == "live_rebuild"
    with pytest.raises(ValueError, match="only with every table"):
        Plan.of("d", ["events", "stats_hourly"])
    with pytest.raises(ValueError, match="not a plain ClickHouse identifier"):
        _ = Plan.of("bad-name").shadow
