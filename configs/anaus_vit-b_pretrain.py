# ANAUS ViT-B/16 pre-training: the short name of the config below.
_base_ = './anaus/anaus_vit-b-p16_8xb24-300e_us.py'
