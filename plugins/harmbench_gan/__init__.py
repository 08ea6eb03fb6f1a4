"""harmbench_gan: the 2-D slice GAN engine and the methods oml-cyclegan, cyclegan, cyclegan-id, pix2pix."""
