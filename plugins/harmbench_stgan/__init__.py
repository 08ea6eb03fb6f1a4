"""Style-transfer GAN harmonization (Liu et al. 2023, StarGAN v2) with the patient's BL as style reference."""
