# cmake -DIN=file -DOUT=file.c -P embed.cmake: writes IN's bytes as a C array
# names_sample_tsv[] with its length names_sample_tsv_len.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* generated from ${IN} by cmake/embed.cmake */\n"
  "const char names_sample_tsv[] = {\n${body}0};\n"
  "const unsigned long names_sample_tsv_len = ${bytes};\n")
