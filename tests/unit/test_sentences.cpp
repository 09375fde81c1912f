#include <catch2/catch.hpp>

#include "clippo/pack/sentences.h"

using clippo::pack::split_documents;
using clippo::pack::split_sentences;
using V = std::vector<std::string>;

TEST_CASE("sentences split at terminators followed by a sentence start") {
  CHECK(split_sentences("The cat sat. The dog ran! Did it? Yes.") == V{"The cat sat.", "The dog ran!", "Did it?", "Yes."});
  CHECK(split_sentences("  Spaces\n  inside   a sentence. Collapse.  ") == V{"Spaces inside a sentence.", "Collapse."});
  CHECK(split_sentences("") == V{});
  CHECK(split_sentences("no terminator at all") == V{"no terminator at all"});
}

TEST_CASE("abbreviations, initials and decimals do not end a sentence") {
  CHECK(split_sentences("Dr. Smith paid $3.50 for it. Then he left.") == V{"Dr. Smith paid $3.50 for it.", "Then he left."});
  CHECK(split_sentences("Tools, e.g. Make, are used. See J. R. R. Tolkien.") ==
        V{"Tools, e.g. Make, are used.", "See J. R. R. Tolkien."});
  CHECK(split_sentences("It supports Python 3.11 etc. and more. Version 2.0 is out.") ==
        V{"It supports Python 3.11 etc. and more.", "Version 2.0 is out."});
  CHECK(split_sentences("Founded in the U.S. in 1990. It grew.") == V{"Founded in the U.S. in 1990.", "It grew."});
  // Numbered headings, as in license texts: the label belongs to its sentence.
  CHECK(split_sentences("   1. Definitions. The license applies. 2.1. Grant. Rights are given.") ==
        V{"1. Definitions.", "The license applies.", "2.1. Grant.", "Rights are given."});
}

TEST_CASE("quotes and brackets stay with their sentence") {
  CHECK(split_sentences("He said \"Stop.\" Then it stopped.") == V{"He said \"Stop.\"", "Then it stopped."});
  CHECK(split_sentences("(This is aside.) \"Quoted start.\" End.") == V{"(This is aside.)", "\"Quoted start.\"", "End."});
  CHECK(split_sentences("Wait... what? Nothing.") == V{"Wait... what?", "Nothing."});
}

TEST_CASE("real Debian package description prose") {
  // From the description of Debian's coreutils package.
  CHECK(split_sentences("This package contains the basic file, shell and text manipulation utilities which are expected "
                        "to exist on every operating system.\n\nSpecifically, this package includes: arch base64 "
                        "basename cat chcon.") ==
        V{"This package contains the basic file, shell and text manipulation utilities which are expected to exist "
          "on every operating system.",
          "Specifically, this package includes: arch base64 basename cat chcon."});
}

TEST_CASE("documents are blocks separated by blank lines") {
  CHECK(split_documents("a b.\nc d.\n\n \nsecond doc.\n") == V{"a b.\nc d.", "second doc."});
  CHECK(split_documents("\n\n") == V{});
}
