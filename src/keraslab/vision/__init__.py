"""Seeing inside networks: filter and class visualisation, saliency, style transfer, diagrams."""
