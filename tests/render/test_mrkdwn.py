"""The one escaping rule and the only builders of Slack markup (``bot.render.mrkdwn``)."""

from __future__ import annotations

from bot.errors import ECHO_CHARS, echo
from bot.render.mrkdwn import (
    MAX_FILE_TITLE,
    date_token,
    escape,
    file_name,
    file_title,
    link,
    mention,
    plain,
)


def test_escape_turns_every_control_sequence_into_text() -> None:
    assert escape("<!channel> & <@U1> <https://x|y>") == (
        "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;https://x|y&gt;"
    )
    # Already-escaped input reads as it came: it is not decoded into markup.
    assert escape("&lt;!here&gt;") == "&amp;lt;!here&amp;gt;"


def test_a_link_escapes_its_label_and_keeps_its_url_whole() -> None:
    assert link("https://console.example/a?b=1&c=2", "Open <it>") == (
        "<https://console.example/a?b=1&amp;c=2|Open &lt;it&gt;>"
    )
    # Outside pieces of a URL cannot end the link or start a label of their own.
    assert link("https://x.example/a|b>c <d", "x") == "<https://x.example/a%7Cb%3Ec%20%3Cd|x>"


def test_only_https_urls_become_links() -> None:
    assert link("javascript:alert(1)", "Open <!here>") == "Open &lt;!here&gt;"
    assert link("http://evil.example", "x") == "x"


def test_mentions_only_for_slack_user_ids() -> None:
    assert mention("U0ONCALL") == "<@U0ONCALL>"
    assert mention("W012ABC") == "<@W012ABC>"
    assert mention("U1> <!channel") == "U1&gt; &lt;!channel"
    assert mention("alarm") == "alarm"


def test_date_token_escapes_its_fallback() -> None:
    assert date_token(1700000000, "<!here>") == (
        "<!date^1700000000^{date_short_pretty} {time}|&lt;!here&gt;>"
    )


def test_plain_text_is_clipped_not_escaped() -> None:
    assert plain("a <b>\n c", 100) == "a <b> c"
    assert plain("x" * 200, 10) == "x" * 9 + "…"


def test_upload_titles_and_names() -> None:
    title = file_title("<!channel> " + "y" * 400)
    assert title.startswith("&lt;!channel&gt; ") and title.endswith("…")
    assert len(title) <= MAX_FILE_TITLE + len("&lt;&gt;") * 2
    assert file_name("prod <!here>/../x", ".png") == "prod-here-..-x.png"
    assert file_name("<>", ".txt") == "file.txt"


def test_echoed_input_is_one_clipped_line() -> None:
    assert echo("a\n  b") == "a b"
    long = echo("z" * 40_000)
    assert len(long) == ECHO_CHARS and long.endswith("…")
