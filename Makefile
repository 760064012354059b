# Shorthands for the two README commands.
.PHONY: run test setup server package
run:
	bash scripts/run.sh
server:
	bash scripts/server.sh
test:
	bash scripts/test.sh
setup:
	bash scripts/setup.sh test
package:
	bash scripts/package.sh
