"""Running the policy: retention of decisions, explanations, simulation and the CLI."""
