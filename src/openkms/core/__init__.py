"""The model: pure rules, no IO, no clock, no globals."""
