"""Signed PDF safety audit reports: keys, thresholds, layout, manifest, signing, verification.

Each job lives in its own module; `build.build_report` and `verify.verify_report`
are the two entry points the CLI and the desktop call.
"""
