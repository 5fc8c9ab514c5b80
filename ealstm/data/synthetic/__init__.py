"""The synthetic CAMELS-US-like data set used by the demo and the tests."""
