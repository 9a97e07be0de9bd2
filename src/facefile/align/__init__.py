"""Alignment: a detected face turned into the embedder's chip.

``keypoints`` uses BlazeFace's points; ``dlib`` uses dlib's 68 landmarks.
"""
