"""Every catalog command through the real entry point: output shapes and exit codes."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_accelctl

ACC_KEYS = {"id", "name", "vendor", "kind", "year", "memory_gb", "mem_bw_tbps", "tflops", "tdp_w", "aliases",
            "sources"}


def test_ls_json_shape(cli) -> None:
    r = cli("ls", "-o", "json")
    assert r.code == 0 and r.err == ""
    items = r.json()
    assert len(items) >= 45
    for item in items:
        assert set(item) >= ACC_KEYS
        assert set(item["tflops"]) == {"fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"}
        assert all({"url", "covers"} <= set(s) for s in item["sources"])


def test_ls_filters_and_yaml(cli) -> None:
    r = cli("ls", "--vendor", "google", "--kind", "tpu", "--sort", "-memory_gb", "-o", "yaml")
    assert r.code == 0
    import yaml

    items = yaml.safe_load(r.out)
    assert items[0]["id"] == "google-tpu-v7-ironwood" and {i["kind"] for i in items} == {"tpu"}
    table = cli("ls", "--min-memory", "100")
    assert table.code == 0 and table.out.splitlines()[0].split()[:3] == ["ID", "NAME", "VENDOR"]
    assert "nvidia-h200" in table.out and "nvidia-a100" not in table.out


def test_show(cli) -> None:
    r = cli("show", "v5e", "-o", "json")
    data = r.json()
    assert r.code == 0 and data["id"] == "google-tpu-v5e" and isinstance(data["reading"], list)
    text = cli("show", "H100").out
    assert "nvidia-h100-sxm" in text and "Sources" in text and "[1] https://" in text


def test_show_unknown_is_one_line_exit_2(cli) -> None:
    r = cli("show", "H10O")
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and 'unknown accelerator "H10O"' in r.err and "did you mean" in r.err


def test_compare_json_and_table(cli) -> None:
    r = cli("compare", "H100", "MI300X", "v5p", "-o", "json")
    data = r.json()
    assert data["accelerators"] == ["nvidia-h100-sxm", "amd-mi300x", "google-tpu-v5p"]
    memory = next(row for row in data["rows"] if row["figure"] == "memory_gb")
    assert memory["best"] == ["amd-mi300x"] and memory["ratios"][:2] == [1.0, 2.4]
    table = cli("compare", "H100", "MI300X", "v5p").out
    assert "192 (2.40x) *" in table


def test_read_json_shape_and_filters(cli) -> None:
    items = cli("read", "-o", "json").json()
    assert len(items) == 117
    for item in items:
        assert {"url", "title", "site", "published", "section", "discussion_url", "accelerators", "topics"} <= set(item)
    trainium = cli("read", "--accelerator", "Trainium2", "-o", "json").json()
    assert trainium and all("aws-trainium2" in i["accelerators"] for i in trainium)


def test_pools_json_shape(cli) -> None:
    items = cli("pools", "-o", "json").json()
    by_name = {p["name"]: p for p in items}
    assert {"name", "backend", "accelerator"} <= set(by_name["local"])
    assert by_name["ray-gpu"]["address"].startswith("http://")
    assert by_name["ssh-lab"]["hosts"] and by_name["gke-tpu-v5e"]["node_selector"]


def test_validate_clean_and_bad(cli, tmp_path: Path) -> None:
    ok = cli("validate")
    assert ok.code == 0 and ok.out.strip().endswith(": ok")
    bad = tmp_path / "bad.yaml"
    bad.write_text("pools:\n  - name: lab\n    backend: ssh\n    accelerator: cpu\n    hostz: [a]\n")
    r = cli("validate", str(bad))
    assert r.code == 2
    assert r.err.splitlines() == [f'{bad}:5:5: pools[0].hostz: unknown field (did you mean "hosts"?)',
                                  "accelctl: error: 1 problem(s) in 1 file(s)"]


def test_bad_overlay_breaks_nothing(tmp_path: Path, isolated_dirs: Path) -> None:
    """A broken overlay: one line per problem, exit 2, no traceback, nothing written."""
    for content in (b"accelerators: [\n", b"\xff\xfe\x00binary", b"a:\n\tb: 1\n", b"x: 1\nx: 2\n",
                    b"pools:\n  - name: p\n    backend: ray\n    accelerator: h100x\n    address: http://h:8265\n"):
        overlay = tmp_path / "overlay.yaml"
        overlay.write_bytes(content)
        r = run_accelctl("--inventory", str(overlay), "ls", env={"ACCELCTL_INVENTORY": ""})
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""
        lines = r.stderr.splitlines()
        assert all(line.startswith(f"{overlay}:") for line in lines[:-1]) and lines[0].startswith(f"{overlay}:")
        assert len(lines) == 1 or lines[-1] == f"accelctl: {len(lines) - 1} problems; fix the file"
    assert [p for p in isolated_dirs.rglob("*") if p.is_file()] == []


def test_env_overlay_and_traceback_flag(tmp_path: Path) -> None:
    overlay = tmp_path / "o.yaml"
    overlay.write_text("pools: [{name: lab, backend: ssh, accelerator: cpu, hosts: [a]}]\n")
    r = run_accelctl("pools", "-o", "json", env={"ACCELCTL_INVENTORY": str(overlay)})
    assert r.returncode == 0 and "lab" in r.stdout
    missing = run_accelctl("--traceback", "--inventory", str(tmp_path / "nope.yaml"), "ls")
    assert missing.returncode == 2 and "Traceback" in missing.stderr


def test_usage_errors_exit_2(cli) -> None:
    assert cli("ls", "--sort", "speed").code == 2
    assert cli("ls", "-o", "xml").code == 2
    assert cli("compare", "H100").code == 2
    assert cli("frobnicate").code == 2


def test_piped_output_is_plain(cli) -> None:
    out = cli("ls").out
    assert "\x1b[" not in out and "│" not in out
