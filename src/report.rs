//! (report: in progress)
