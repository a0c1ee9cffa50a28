"""Experiments for learners and researchers: plain test functions and :func:`minimize`, one
worked step of backpropagation (``explain``), the ``train`` and ``compare`` jobs, and the tour
that tests each classic claim about gradient descent."""
