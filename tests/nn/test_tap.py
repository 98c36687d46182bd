"""Reading a network's feature and output widths."""

import pytest

from sklens.nn.networks import PaperCNN
from sklens.nn.tap import feature_dimension, probe_widths


def test_the_probe_gives_the_feature_and_output_widths_and_keeps_the_training_mode():
    network = PaperCNN(image_size=(24, 24), n_outputs=3)
    assert network.training
    assert probe_widths(network, "features", (1, 24, 24)) == (32 * 3 * 3, 3)
    assert network.training


def test_feature_dimension_is_a_deprecated_name_of_the_probes_first_width():
    network = PaperCNN(image_size=(40, 40), n_outputs=2)
    with pytest.warns(FutureWarning, match=r"probe_widths\(network, layer, input_shape\)\[0\]"):
        assert feature_dimension(network, "features", (1, 40, 40)) == 800
