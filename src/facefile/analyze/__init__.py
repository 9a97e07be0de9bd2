"""Analysis of one photo: detect -> align -> embed, plus each face's quality measures."""
