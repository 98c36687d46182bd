import pytest
import torch

from sklens.nn.networks import MLPRegressorNet, PaperCNN, default_network


def test_paper_cnn_matches_table_2():
    net = PaperCNN()
    assert net.features(torch.zeros(1, 1, 40, 40)).shape == (1, 800)
    counts = [sum(p.numel() for p in block.parameters()) for block in net.features[:3]]
    assert counts == [80 + 16, 1168 + 32, 4640 + 64]  # conv + batchnorm, as in Table 2
    assert sum(p.numel() for p in net.head.parameters()) == 102_528 + 129


def test_default_network_picks_cnn_for_images_and_mlp_for_tables():
    assert isinstance(default_network((3, 24, 24)), PaperCNN)
    assert isinstance(default_network((7,)), MLPRegressorNet)
    with pytest.raises(ValueError, match="shape"):
        default_network((2, 3))


def test_too_small_images_are_refused():
    with pytest.raises(ValueError, match="too small"):
        PaperCNN(image_size=(4, 4))
