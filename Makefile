# kubenetlab: `make demo` runs the main job, `make test` the test suite; both set up first.
.PHONY: setup demo demo-full test lint bench-scale clean-labs

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

demo-full: setup
	DEMO=full bash scripts/demo.sh

test: setup
	bash scripts/test.sh $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check src tests benchmarks

bench-scale: setup
	.venv/bin/python benchmarks/lab_scale.py

clean-labs: setup
	.venv/bin/kubenetlab lab down --all
