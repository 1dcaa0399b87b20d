"""Round 16 of user testing the inspect views and their neighbours (area: inspect)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from assistant.cli import main


def test_config_show_keeps_max_tokens_readable_and_still_masks_secrets(assistant_home: Path) -> None:
    """`config show` printed `"max_tokens": "***"` for a `[params]` table: the name holds the word
    `token`, one of the words that mark a credential. A sampling parameter is never one; the keys
    that are stay masked."""
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        '[params]\nmax_tokens = 256\ntemperature = 0.5\n'
        '[remotes.lab]\nbase_url = "http://box:8001/v1"\napi_key = "sk-secret-2"\n'
        '[remotes.lab.headers]\nAuthorization = "Bearer sk-3"\nX-Access-Token = "sk-4"\n'
    )
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["config"]
    assert shown["params"] == {"max_tokens": 256, "temperature": 0.5}
    assert shown["remotes"]["lab"]["api_key"] == "***"
    assert shown["remotes"]["lab"]["headers"] == {"Authorization": "***", "X-Access-Token": "***"}
    assert "sk-" not in result.output


def test_next_rows_fit_40_columns_when_a_long_token_is_cut() -> None:
    """`COLUMNS=40 assistant next -o top_k=3 --top 200 "The"`: even the narrowest layout (no bars, `✗ top-k`)
    left rows of 42 cells where a candidate was `␣understanding`, and the terminal wrapped every row under
    the next one's rank. The token is now cut to the room left, ending in `…`; the greedy pick stays whole."""
    import numpy as np
    from rich.cells import cell_len

    from assistant.cli.inspect_tokens import next_lines
    from assistant.inspect.distribution import next_token
    from assistant.types import GenerationParams

    logits = np.linspace(6.0, 0.0, 300, dtype=np.float32)
    names = {0: " understanding", 1: "日本語テキスト", 150: " understanding"}
    result = next_token(logits, GenerationParams(top_k=3), lambda i: names.get(i, f"t{i}"), top=200)
    lines = next_lines(result, width=40)
    assert all(cell_len(line) <= 39 for line in lines), [line for line in lines if cell_len(line) > 39]
    rows = [line for line in lines if line[:3].strip().isdigit()]
    assert len(rows) == 200
    assert "␣understan…" in rows[0] and rows[150].endswith("✗ top-k") and "…" in rows[150]
    assert "日本語" in rows[1] and "…" in rows[1]
    assert any("greedy pick: ␣understanding " in line for line in lines)
    assert next_lines(result, width=80)[2].split()[1] == "␣understanding"  # where it fits it is whole


def test_a_model_name_with_control_characters_makes_well_formed_pictures(tmp_path: Path) -> None:
    """`assistant attention -m $'ev\\e[31mil\\u202e.gguf' --out map.svg`: the model's file name went into the
    picture's title raw. matplotlib writes each text into an XML comment of the SVG too, and an ESC there
    is no XML at all (browsers refused the file); a U+202E reversed the HTML page's heading. The title now
    shows the name as the terminal does (`␛`, `\\u202e`), in every view."""
    import xml.dom.minidom

    import numpy as np

    from assistant.inspect.attention import map_title
    from assistant.inspect.pictures import save_attention_picture
    from assistant.types import AttentionMaps

    weights = np.tril(np.full((1, 4, 4), 1 / 4, dtype=np.float32))
    weights[0, :, 0] += 1 - weights[0].sum(axis=1)
    tokens = ["a", "b", "c", "d"]
    maps = AttentionMaps(layers=[weights], token_ids=[1, 2, 3, 4], tokens=tokens, prompt_tokens=3)
    model = "ev\x1b[31mil\u202e.gguf"
    for name in ("map.svg", "map.html"):
        out = tmp_path / name
        save_attention_picture(maps, out, 0, None, model)
        text = out.read_text(encoding="utf-8")
        assert "\x1b" not in text and "\u202e" not in text, name
        # the ␛ is drawn, or written as its escape where no font has it (picture_text)
        assert "[31mil\\u202e.gguf · layer 0 · head mean" in text, name
    xml.dom.minidom.parse(str(tmp_path / "map.svg"))  # it raised "not well-formed (invalid token)"
    heading = "<h1>ev␛[31mil\\u202e.gguf · layer 0 · head mean</h1>"
    assert heading in (tmp_path / "map.html").read_text("utf-8")
    assert map_title(model, 0, None, 1) == "ev␛[31mil\\u202e.gguf · layer 0 · head mean"
