"""Data augmentation: images (Keras preprocessing layers, :mod:`keraslab.augment.image`), text
(EDA with offline WordNet synonyms, :mod:`keraslab.augment.text`) and tables (SMOTE, SMOTE-NC,
ADASYN through imbalanced-learn, :mod:`keraslab.augment.tabular`). ``keraslab augment
images|text|table`` runs each; the settings are declared in :mod:`keraslab.augment.specs`.

Only :mod:`keraslab.augment.image` imports Keras.
"""
