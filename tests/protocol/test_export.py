"""``PUT network/{n}/export/layerid/{l}``: each export is written into a
folder of its own, complete or not at all."""

import json
from concurrent.futures import ThreadPoolExecutor

from PIL import Image


def test_concurrent_exports_each_get_their_own_complete_folder(serve, tiny_session, client_for):
    client = client_for(serve(tiny_session).url, concurrency=8)
    body = json.dumps({"mode": 2, "layerID": 5})
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.request("PUT", "network/0/export/layerid/5", body), range(40)))
    assert [a.status for a in answers] == [200] * 40, [a.body for a in answers if a.status != 200][:3]
    folders = [tiny_session.cache_dir / a.body["path"] for a in answers]
    assert len(set(folders)) == 40
    for folder in folders:
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(f"{i}.png" for i in range(8))
        for name in names:
            with Image.open(folder / name) as image:
                image.verify()
    leftovers = [p for p in folders[0].parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temporary folders remain


def test_an_unwritable_cache_folder_is_a_clear_answer(serve, tiny_session, client_for, tmp_path):
    network = tiny_session.networks[0]
    (network.cache_dir / "export").mkdir(parents=True, exist_ok=True)
    (network.cache_dir / "export" / "layer_1").write_text("a file where the export's folder goes")
    answer = client_for(serve(tiny_session).url).request("PUT", "network/0/export/layerid/1", '{"mode": 2}')
    assert answer.status == 503 and answer.body["error"] == "Unavailable", answer.body
    assert "cannot write the export" in answer.body["message"] and str(tmp_path) not in answer.body["message"]
