//! placeholder: see the mud issue
