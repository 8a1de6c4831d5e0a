"""Contextual bandits that learn online from the env's click responses.

Three agents, one file each, sharing the online loop and the position model (``online``),
the context (``context``) and the click counts of the two count-based ones (``counts``):

* ``epsilon_greedy.EpsilonGreedyAgent``: per-(context, item) empirical CTR, a uniformly
  random slate with probability epsilon;
* ``linucb.LinUCBAgent``: disjoint ridge regressions per item on a context vector, the
  slate ranked by the upper confidence bound (Li et al. 2010, Algorithm 1);
* ``thompson.ThompsonSamplingAgent``: Beta posteriors per (context, item), the slate ranked
  by one posterior draw per item (the Open Bandit Pipeline's ``BernoulliTS``).

Every impression is one Bernoulli trial: reward 1 if that item was clicked. A slate is the
top ``slate_size`` items of the per-item scores (or samples), the best at the top position.
"""
