"""The papers sgdlab reproduces, as BibTeX: each finding notebook names its own, ends with them, and the
index of a reproduction shows them beside the notebook's claims."""

from __future__ import annotations

PAPERS: dict[str, str] = {
    "jastrzebski2019": """@inproceedings{jastrzebski2019relation,
  title     = {On the Relation Between the Sharpest Directions of {DNN} Loss and the {SGD} Step Length},
  author    = {Jastrz{\\k{e}}bski, Stanis{\\l}aw and Kenton, Zachary and Ballas, Nicolas and Fischer, Asja and
               Bengio, Yoshua and Storkey, Amos},
  booktitle = {International Conference on Learning Representations},
  year      = {2019},
  eprint    = {1807.05031},
  archivePrefix = {arXiv}
}""",
    "jastrzebski2017": """@article{jastrzebski2017three,
  title   = {Three Factors Influencing Minima in {SGD}},
  author  = {Jastrz{\\k{e}}bski, Stanis{\\l}aw and Kenton, Zachary and Arpit, Devansh and Ballas, Nicolas and
             Fischer, Asja and Bengio, Yoshua and Storkey, Amos},
  journal = {arXiv preprint arXiv:1711.04623},
  year    = {2017}
}""",
    "cohen2021": """@inproceedings{cohen2021gradient,
  title     = {Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability},
  author    = {Cohen, Jeremy and Kaur, Simran and Li, Yuanzhi and Kolter, J. Zico and Talwalkar, Ameet},
  booktitle = {International Conference on Learning Representations},
  year      = {2021},
  eprint    = {2103.00065},
  archivePrefix = {arXiv}
}""",
    "roulet2024": """@inproceedings{roulet2024stepping,
  title     = {Stepping on the Edge: Curvature Aware Learning Rate Tuners},
  author    = {Roulet, Vincent and Agarwala, Atish and Grill, Jean-Bastien and Swirszcz, Grzegorz and
               Blondel, Mathieu and Pedregosa, Fabian},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2024},
  eprint    = {2407.06183},
  archivePrefix = {arXiv}
}""",
    "xing2018": """@article{xing2018walk,
  title   = {A Walk with {SGD}},
  author  = {Xing, Chen and Arpit, Devansh and Tsirigotis, Christos and Bengio, Yoshua},
  journal = {arXiv preprint arXiv:1802.08770},
  year    = {2018}
}""",
    "feng2021": """@article{feng2021inverse,
  title   = {The Inverse Variance--Flatness Relation in Stochastic Gradient Descent Is Critical for Finding
             Flat Minima},
  author  = {Feng, Yu and Tu, Yuhai},
  journal = {Proceedings of the National Academy of Sciences},
  volume  = {118},
  number  = {9},
  pages   = {e2015617118},
  year    = {2021}
}""",
    "yaida2019": """@inproceedings{yaida2019fluctuation,
  title     = {Fluctuation-Dissipation Relations for Stochastic Gradient Descent},
  author    = {Yaida, Sho},
  booktitle = {International Conference on Learning Representations},
  year      = {2019},
  eprint    = {1810.00004},
  archivePrefix = {arXiv}
}""",
}

FILE = "citation.bib"


def bibtex(keys: tuple[str, ...]) -> str:
    """The BibTeX entries of ``keys``, in order; ``ValueError`` naming the known keys otherwise."""
    unknown = [k for k in keys if k not in PAPERS]
    if unknown:
        raise ValueError(f"papers {unknown} are unknown; choose from: {', '.join(PAPERS)}")
    return "\n\n".join(PAPERS[k] for k in keys) + "\n"
