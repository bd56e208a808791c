"""Bayesian implicit neural representations coded with relative entropy coding.

- :mod:`rdlab.inr.modalities`: each modality's reading, normalizing, restoring, writing
  and distortion (images, audio, protein C-alpha traces, video);
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
