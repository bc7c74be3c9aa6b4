"""The base of the service's refusals: a step the user asked for that cannot be done.

A command line turns any :class:`DomainError` into its message and a non-zero exit status;
its message must say what was refused and what to do instead.
"""


class DomainError(Exception):
    """A request was refused; ``str(error)`` explains why and what to do."""
