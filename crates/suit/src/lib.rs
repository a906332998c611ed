//! placeholder: see the suit issue
