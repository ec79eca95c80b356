"""The synthetic trial generator: complete, realistic, seeded studies for the shipped protocols.

:func:`synthesize` makes one study; :func:`make_demo` writes the demo studies of both protocols.
The pipeline, each step in its own module:

1. ``_sites``: the site table (the protocol's, or a synthetic COG-like one), staggered activation and
   per-site accrual with Poisson–Gamma rates;
2. ``_population``: the true screening inputs of every patient, per protocol;
3. ``_verdict``: the site's verdict from the protocol's own criteria
   (:func:`trialkit.evaluate_eligibility` on the true inputs), with declines and site errors;
4. ``_missing``: missing values injected into the exported inputs;
5. randomization of the patients the site found eligible: stratified permuted blocks in the
   protocol's ratio and block sizes, each stratum taking the next slot of its list from
   :func:`trialkit.generate_schedule` (seed and hash recorded in ``Study.notes``);
6. ``_course``: treatment, end-of-induction response and MRD, EFS and OS, censored at the data cut.

Every random step draws from its own stream (``numpy.random.SeedSequence(seed).spawn``), so
switching off one step (e.g. ``missing=0``) leaves every other value unchanged. The model, its
parameters and what is assumed are in ``docs/synthetic-data.md``.
"""

from ._generate import DEFAULT_DATA_CUT, DEFAULT_SEED, DEMO_SIZES, Truth, generate, make_demo, synthesize

__all__ = ["synthesize", "make_demo", "generate", "Truth", "DEFAULT_SEED", "DEFAULT_DATA_CUT", "DEMO_SIZES"]
