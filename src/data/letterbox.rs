//! Image preparation (SPEC §6): crop to the bounding box, letterbox to a square, ImageNet normalisation.
