//! Test kit for actors (feature `testkit`): placeholder, filled by the macros/test-kit work.
