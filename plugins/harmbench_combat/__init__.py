"""Image-level ComBat harmonization (neuroHarmonize), landmark and voxel modes."""
