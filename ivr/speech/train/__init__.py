"""Model building pipeline (``ivr model build``).  Needs the ``train`` extra:
torch (CPU), kaldi-native-fbank, scipy; plus Debian espeak-ng and sox."""
