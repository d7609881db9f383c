"""CSV validation: every bad row/column is named; good tables round-trip through storage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fate.flow.errors import BadRequest
from fate.flow.tables import parse_csv, read_table, write_table


def _problems(text: str) -> list[str]:
    with pytest.raises(BadRequest) as info:
        parse_csv(text)
    return list(info.value.problems) or [info.value.message]


def test_good_table_with_label() -> None:
    t = parse_csv("id,y,x0,x1\na,1,0.5,2\nb,0,-1e3,3\n")
    assert t.ids == ("a", "b")
    assert t.header == ("x0", "x1")
    np.testing.assert_array_equal(t.features, [[0.5, 2.0], [-1000.0, 3.0]])
    np.testing.assert_array_equal(t.labels, [1.0, 0.0])


def test_id_only_table_has_no_features() -> None:
    t = parse_csv("id\nu1\nu2\n")
    assert t.features.shape == (2, 0) and t.labels is None


def test_every_bad_cell_is_named_with_line_and_column() -> None:
    problems = _problems("id,x0,x1\na,1,zz\n,2,3\na,4,5\nc,nan,6\nd,1\n")
    assert "line 2, column 'x1': 'zz' is not a finite number" in problems
    assert "line 3, column 'id': empty id" in problems
    assert "line 4, column 'id': duplicate id 'a' (first on line 2)" in problems
    assert "line 5, column 'x0': 'nan' is not a finite number" in problems
    assert "line 6: 2 fields, the header has 3" in problems


def test_header_problems() -> None:
    assert any("no 'id' column" in p for p in _problems("uid,x\n1,2\n"))
    assert any("duplicate column name 'x'" in p for p in _problems("id,x,x\n1,2,3\n"))
    assert "empty" in _problems("")[0]
    assert _problems("id,x\n") == ["no data rows after the header"]


def test_bad_label_is_named() -> None:
    assert _problems("id,y\na,yes\n") == ["line 2, column 'y': label 'yes' is not a number"]


def test_problem_list_is_capped() -> None:
    body = "id,x\n" + "".join(f"r{i},bad\n" for i in range(50))
    problems = _problems(body)
    assert len(problems) == 21 and problems[-1] == "... and 30 more problems"


def test_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes(b"id,x\n\xff\xfe,1\n")
    with pytest.raises(BadRequest, match="not UTF-8"):
        parse_csv(f)


def test_round_trip(tmp_path: Path) -> None:
    t = parse_csv("id,y,x0\na,1,0.25\nb,0,7\n")
    write_table(t, tmp_path / "t.npz")
    back = read_table(tmp_path / "t.npz")
    assert back.ids == t.ids and back.header == t.header
    np.testing.assert_array_equal(back.features, t.features)
    np.testing.assert_array_equal(back.labels, t.labels)


def test_csv_export_reads_back() -> None:
    from fate.flow.tables import to_csv

    t = parse_csv("id,y,x0,x1\na,1,0.1,2\nb,0,3,-4.5\n")
    back = parse_csv(to_csv(t))
    assert back.ids == t.ids and back.header == t.header
    np.testing.assert_array_equal(back.features, t.features)
    np.testing.assert_array_equal(back.labels, t.labels)


@pytest.mark.parametrize("name", ["bad name", "a/b", "-lead", "", "x" * 65])
def test_the_cli_client_refuses_a_bad_table_name_before_any_request(name: str, tmp_path: Path) -> None:
    from fate.flow.jobspec import NAME
    from fatectl.errors import SpecError
    from fatectl.flowclient import upload
    from tests.lab.specs import federation

    assert not NAME.match(name)  # the flow refuses it too
    csv = tmp_path / "t.csv"
    csv.write_text("id,x\n1,2\n")
    with pytest.raises(SpecError, match="table name .*letters, digits"):
        upload(federation(tmp_path, 2, name="bad-names"), 9999, name, csv)  # no lab: no request could go out


def test_an_empty_feature_cell_is_a_missing_value() -> None:
    table = parse_csv("id,y,x0,x1\na,1,,2\nb,0,3, \n")
    assert np.isnan(table.features[0, 0]) and np.isnan(table.features[1, 1])
    assert table.features[0, 1] == 2.0 and table.features[1, 0] == 3.0
    assert _problems("id,y,x0\na,,1\n") == ["line 2, column 'y': label '' is not a number"]
