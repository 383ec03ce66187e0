"""The benchmark suite: bld-remote and blender-remote 1.3.3 measured side by side, in one run, on the
same Blender binary. `python -m bench.suite --help` from the repository root; scripts/bench.sh
prepares everything and runs it. Benchmarks print figures and write them to files; they assert
nothing about speed (that is what the targets table in the report is for)."""
