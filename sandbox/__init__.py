"""The whole loop on one machine, with no AWS account."""
