"""Looking inside the model: token probabilities, the sampled distribution, tokenization.

Modules here are front-end neutral (no Textual, no click): the CLI commands
and the chat app's views draw what they compute.

- :mod:`.distribution` — the one definition of the *sampled* distribution
  (numpy), the :class:`~.distribution.Candidate` and
  :class:`~.distribution.NextToken` records;
- :mod:`.shade` — the one probability colour scale;
- :mod:`.pieces` — how a token piece is shown (visible spaces, partial UTF-8).

Nothing here is imported at CLI start-up; numpy loads with :mod:`.distribution`.
"""
