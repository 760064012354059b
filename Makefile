# Shorthands for the two README commands.
.PHONY: run test setup
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
setup:
	bash scripts/setup.sh test
