"""Pre-training: objectives (causal, masked, span corruption), corpus packing, tokenizers, continued pre-training, scaling-law fits."""
