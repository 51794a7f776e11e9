"""Encoders: the contract and shared blocks (:mod:`.base`) and the pretrained-tower encoder; each kind's
own encoder lives in its module of :mod:`modalyze.kinds`."""

from modalyze.encoders.base import EncoderOutput, create_encoder, list_encoders

__all__ = ["EncoderOutput", "create_encoder", "list_encoders"]
