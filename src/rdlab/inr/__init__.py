"""Bayesian implicit neural representations coded with relative entropy coding.

- :mod:`rdlab.inr.modalities`: the :class:`~rdlab.inr.modalities.Modality` protocol and
  its registry (``register_modality``, ``get_modality``, ``modality_for_path``), one
  module per modality (images, audio, protein C-alpha traces, video): reading,
  normalizing, restoring, writing, distortion, rate unit, encoder defaults;
- :mod:`rdlab.inr.patches`, :mod:`rdlab.inr.blocks`: signals to patches, weights to
  coding blocks;
- :mod:`rdlab.inr.prior`, :mod:`rdlab.inr.fit`: learning the weight prior, fitting the
  posteriors of a signal;
- :mod:`rdlab.inr.coding`: the blocks' weights to bytes with blockwise ordered random
  coding and back;
- :mod:`rdlab.inr.model_file`: the model file (prior, architecture, card).

The codec (``.rdl`` files) is :class:`rdlab.codecs.inr.INRCodec`. Nothing is imported
here, so that importing one submodule stays cheap.
"""
