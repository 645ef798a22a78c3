//! DeepFashion (Category and Attribute Prediction benchmark) annotations (SPEC §6).
