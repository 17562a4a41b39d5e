"""`callflows fillers build`: render the audio that fills a wait on the phone, for every vertical.

Phrases ("Mm-hm.", "I'm looking at your account now.") are synthesised with the bot's Piper
voice into the prompt cache; the keyboard sound is synthesised with numpy. Nothing is
downloaded. Run by the install script; the phone server also renders anything missing at start.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("fillers")
def fillers() -> None:
    """Audio that fills a wait on the phone (acknowledgements, progress lines, typing)."""


@fillers.command("build")
@click.option("--vertical", "names", multiple=True, help="Only this vertical (repeatable; default: all).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The prompt cache (default: CALLFLOWS_TTS_CACHE_DIR or var/tts-cache).")
def build(names: tuple[str, ...], cache_dir: Path | None) -> None:
    """Render every vertical's filler phrases and keyboard sound that are not cached yet."""
    from callflows.config import Settings
    from callflows.speech.fillers import FillerLibrary
    from callflows.speech.tts import PiperTTS, PromptCache
    from callflows.telephony.waiting import load_waiting_config
    from callflows.verticals import list_verticals, vertical_root

    settings = Settings.from_env()
    verticals = list(names) or list_verticals()
    tts = PiperTTS(settings.tts_voice_path)
    library = FillerLibrary(PromptCache(tts, cache_dir or settings.tts_cache_dir))
    for name in verticals:
        try:
            root = vertical_root(name)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        config = load_waiting_config(root)
        if not config.enabled:
            click.echo(f"{name}: waiting fillers disabled")
            continue
        report = library.build(config.phrases, [config.keyboard_ms] if config.keyboard else [])
        click.echo(f"{name}: {report.phrases_synthesised} phrase(s) synthesised, {report.phrases_cached} cached; "
                   f"{report.keyboard_written} keyboard clip(s) made, {report.keyboard_cached} cached")
    click.echo(f"fillers in {library.prompts.cache_dir}")
