"""Synthetic data: housing photos and families with labels known by construction.

photos.render_photo / generate_photos draw and write photos; families.generate_families /
write_families plan families and their photos; sheet.contact_sheet shows a set at a glance.
datasets/cards/synthetic.md describes the generative model.
"""
