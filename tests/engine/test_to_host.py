"""A forward pass's layers come off the device in one copy, each layer its own values and shape."""

import pytest
import torch

from dvvr_jupyter.engine.network import to_host

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_output", [True, False])
def test_to_host_keeps_every_layer(device, with_output):
    generator = torch.Generator().manual_seed(0)
    layers = {0: torch.rand(3, 5, 7, generator=generator), 4: torch.rand(10, generator=generator),
              2: torch.rand(2, 1, 9, generator=generator).half()}
    on_device = {index: tensor.to(device) for index, tensor in layers.items()}
    output = torch.rand(1, 6, generator=generator).to(device) if with_output else None
    host_output, host = to_host(output, on_device)
    assert list(host) == list(layers)
    for index, tensor in layers.items():
        assert host[index].device.type == "cpu" and host[index].dtype == torch.float32
        assert torch.equal(host[index], tensor.float()), index
    if with_output:
        assert torch.equal(host_output, output.cpu())
    else:
        assert host_output is None
