"""The experiment sheet names each run's dataset version and its mix (qa, refusal, variant:... shares of the
rows written), so "did the Spanish pairs help?" is two versions and a comparison."""

from __future__ import annotations

import time

from core.config import load_config
from core.curation.service import export_dataset
from core.sessions import open_session
from core.store import NewPair
from core.store.jobs import NewJob
from core.training.prices import PriceTable
from core.training.sheet import sheet_records


def test_each_run_shows_the_mix_of_the_dataset_it_trained_on():
    store = open_session("sheet-mix")
    try:
        store.add_pairs(
            NewPair(f"How do I read meter model {i}?", f"Press button {i} twice.", status="accepted") for i in range(16)
        )
        store.add_pairs(
            NewPair(f"Can you hack meter {i}?", "I can't help with that.", kind="refusal", status="accepted")
            for i in range(4)
        )
        config = load_config(include_user=False)
        plain = export_dataset(store, config, format="chat", upload=False, validation_share=None)
        spanish = [
            NewPair(
                f"¿Cómo leo el medidor {p.id}?",
                "Pulse el botón dos veces.",
                status="accepted",
                tags=("variant:language", "variant:language:spanish"),
                task_key=f"t{p.id}",
                provenance={"source_pair": p.id},
            )
            for p in list(store.iter_pairs())[:5]
        ]
        store.add_pairs_step(spanish)
        mixed = export_dataset(store, config, format="chat", upload=False, validation_share=None)
        ids = {v.hash: v.id for v in store.dataset_versions()}
        for name, version in (("plain", plain.version), ("spanish", mixed.version)):
            store.add_job(NewJob(name, "m", "1", "ml.g5.xlarge", {"epoch": "1"}, dataset_version_id=ids[version.hash]))
        store.add_job(NewJob("no-data", "m", "1", "ml.g5.xlarge", {"epoch": "1"}))
        rows = {r["job"]: r for r in sheet_records(store, PriceTable(), time.time())}
        assert rows["plain"]["data_mix"] == "qa 80% · refusal 20%"
        assert rows["spanish"]["data_mix"] == "qa 64% · variant:spanish 20% · refusal 16%"  # most first
        assert rows["spanish"]["dataset"] == mixed.version.hash[:12] != rows["plain"]["dataset"]
        assert rows["no-data"]["data_mix"] is None
    finally:
        store.close()
